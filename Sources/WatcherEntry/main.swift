// `k8slb-watcher` (development and tests; the image runs the multi-call `k8slb` under this name).
import Watcher

await WatcherMain.main(Array(CommandLine.arguments.dropFirst()))

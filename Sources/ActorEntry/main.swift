// `k8slb-actor` (development and tests; the image runs the multi-call `k8slb` under this name).
import Actor

await ActorMain.main(Array(CommandLine.arguments.dropFirst()))

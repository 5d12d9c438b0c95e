// `k8slb`: both daemons in one file, like busybox. Run as `k8slb-actor` or `k8slb-watcher` (links
// to this file: the image has both) it is that daemon; `k8slb actor ...` and `k8slb watcher ...`
// work too. One file shares the statically linked Swift runtime and Foundation (issue 23: two
// static binaries were 70 MB each, mostly the same).
import Actor
import Watcher

#if canImport(Glibc)
    import Glibc
#endif

let arguments = CommandLine.arguments
let program = arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? ""
switch program {
case "k8slb-actor": await ActorMain.main(Array(arguments.dropFirst()))
case "k8slb-watcher": await WatcherMain.main(Array(arguments.dropFirst()))
default:
    switch arguments.dropFirst().first {
    case "actor": await ActorMain.main(Array(arguments.dropFirst(2)))
    case "watcher": await WatcherMain.main(Array(arguments.dropFirst(2)))
    default:
        let usage = """
            usage: k8slb actor [ARGUMENTS...]      (the same as k8slb-actor ARGUMENTS...)
                   k8slb watcher [ARGUMENTS...]    (the same as k8slb-watcher ARGUMENTS...)
            Run as k8slb-actor or k8slb-watcher (a link to this file), it is that program.

            """
        _ = usage.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        exit(2)
    }
}

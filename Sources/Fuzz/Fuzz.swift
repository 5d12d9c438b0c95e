import Foundation
import FuzzTargets

/// The target libFuzzer exercises, from `K8SLB_FUZZ_TARGET` (read once).
let selected: FuzzTarget? = ProcessInfo.processInfo.environment["K8SLB_FUZZ_TARGET"].flatMap(
    FuzzTarget.init(rawValue:))

/// libFuzzer's entry point (built with `-sanitize=fuzzer -DFUZZING` by `scripts/fuzz`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selected else {
        fatalError("set K8SLB_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue))")
    }
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    target.run(bytes)
    return 0
}

#if FUZZING
    /// libFuzzer's driver (libclang_rt.fuzzer), run from the executable's entry point: SwiftPM names
    /// an executable's entry `Fuzz_main` and links `main` to it, so libFuzzer's own `main` is not used.
    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @_cdecl("Fuzz_main")
    func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var vector = argv
        return runDriver(&count, &vector, fuzzOneInput)
    }
#else
    /// Without libFuzzer: `k8slb-fuzz TARGET FILE…` runs each file through the target once (a crash
    /// found by `scripts/fuzz` is reproduced this way, in a debugger if need be).
    @main
    struct Replay {
        static func main() {
            let args = CommandLine.arguments.dropFirst()
            guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
                print("usage: k8slb-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE…")
                exit(2)
            }
            var count = 0
            for path in args.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    print("cannot read \(path)")
                    exit(1)
                }
                target.run(Array(data))
                count += 1
            }
            print("\(target.rawValue): \(count) inputs ran")
        }
    }
#endif

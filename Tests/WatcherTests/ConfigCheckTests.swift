import Testing
@testable import Watcher

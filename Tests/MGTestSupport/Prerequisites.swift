import Foundation
import XCTest

/// A test prerequisite that is missing (the built executable, `mpirun`): a skip on a developer's machine, a
/// failure under CI (`CI=true`), where every prerequisite is installed and a skip would hide a broken test.
public struct MissingPrerequisite: Error, CustomStringConvertible {
    public let description: String
}

/// Throws `XCTSkip(reason)`, or under `CI=true` records a failure and throws `MissingPrerequisite`.
public func skipUnlessCI(_ reason: String, file: StaticString = #filePath, line: UInt = #line) throws -> Never {
    if ProcessInfo.processInfo.environment["CI"] == "true" {
        XCTFail("prerequisite missing under CI: \(reason)", file: file, line: line)
        throw MissingPrerequisite(description: reason)
    }
    throw XCTSkip(reason)
}

import MGDistributed
import XCTest

final class MPILibraryLoadingTests: XCTestCase {
    func testDefaultCandidatesPutTheOverrideFirst() {
        let defaults = MPILibrary.defaultCandidates(environment: [:])
        XCTAssertFalse(defaults.isEmpty)
        XCTAssertEqual(
            MPILibrary.defaultCandidates(environment: ["MGLLAVA_LIBMPI": "/opt/ompi/lib/libmpi.so.40"]),
            ["/opt/ompi/lib/libmpi.so.40"] + defaults)
        XCTAssertEqual(
            MPILibrary.defaultCandidates(environment: ["MGLLAVA_LIBMPI": ""]), defaults,
            "an empty override is ignored")
        #if os(Linux)
            XCTAssertEqual(defaults, ["libmpi.so.40", "libmpi.so"])
        #endif
    }

    func testMissingLibraryErrorNamesEveryCandidateAndTheFix() {
        let candidates = ["/nonexistent/mgllava/libmpi.so.40", "libmpi-that-does-not-exist.so.99"]
        XCTAssertThrowsError(try MPILibrary.load(candidates: candidates)) { error in
            guard case DistributedError.libraryNotLoaded(let attempts) = error else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(attempts.map(\.name), candidates)
            XCTAssertTrue(attempts.allSatisfy { !$0.reason.isEmpty })
            let message = String(describing: error)
            for needle in candidates + ["libopenmpi3", "openmpi-bin", "mpirun", "MGLLAVA_LIBMPI"] {
                XCTAssertTrue(message.contains(needle), "message lacks \(needle): \(message)")
            }
        }
    }

    func testLibraryWithoutOpenMPISymbolsIsRejected() throws {
        #if os(Linux)
            // libm is always present and certainly not OpenMPI.
            XCTAssertThrowsError(try MPILibrary.load(candidates: ["libm.so.6"])) { error in
                XCTAssertEqual(
                    error as? DistributedError, .missingSymbol(name: "MPI_Initialized", library: "libm.so.6"))
            }
        #else
            throw XCTSkip("uses a Linux soname")
        #endif
    }
}

import XCTest
import MGTensor

final class AutogradTests: XCTestCase {
    func testGradientsAccumulateAcrossBackwardCalls() {
        let x = Tensor([1, 2, 3]).requiringGrad()
        (x * x).sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [2, 4, 6])
        (x * 3).sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [5, 7, 9], "a second backward adds to the leaf's gradient")
        x.zeroGrad()
        XCTAssertNil(x.grad)
    }

    func testNoGradRecordsNothing() {
        let x = Tensor([1, 2]).requiringGrad()
        let y = withNoGrad { (x * 2).exp() }
        XCTAssertFalse(y.requiresGrad)
        let z = withNoGrad { withGrad { x * 2 } }
        XCTAssertTrue(z.requiresGrad, "withGrad re-enables recording inside a no-grad scope")
    }

    func testDetachCutsTheGraph() {
        let x = Tensor([1, 2]).requiringGrad()
        let y = (x * 2).detached() * x
        y.sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [2, 4], "only the non-detached path contributes")
    }

    func testInputsThatDoNotRequireGradGetNone() {
        let x = Tensor([1, 2]).requiringGrad()
        let c = Tensor([5, 7])
        (x * c).sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [5, 7])
        XCTAssertNil(c.grad)
        XCTAssertFalse(c.requiresGrad)
    }

    func testDiamondGraphSumsBothPaths() {
        let x = Tensor([0.5, -1]).requiringGrad()
        let a = x.exp()
        let y = a * a + a  // a used twice: d/dx = (2a + 1)·a
        y.sum().backward()
        let e = [Float(0.5), -1].map { Foundation.exp($0) }
        let expected = e.map { (2 * $0 + 1) * $0 }
        for (g, w) in zip(x.grad!.toArray(), expected) { XCTAssertEqual(g, w, accuracy: 1e-5) }
    }

    func testDeepChainDoesNotRecurse() {
        // 20,000 ops in a chain: a recursive backward would overflow the stack.
        let x = Tensor([1]).requiringGrad()
        var y = x
        for _ in 0..<20_000 { y = y * 1.0001 }
        y.sum().backward()
        XCTAssertEqual(x.grad!.item(), Foundation.pow(1.0001, 20_000), accuracy: 1e-2)
    }

    func testBackwardFreesTheGraph() {
        // Saved tensors are released once backward has run: the captured activation's storage is no longer shared.
        weak var weakStorage: Storage?
        let x = Tensor([1, 2, 3]).requiringGrad()
        var y: Tensor
        do {
            let hidden = x.exp()
            weakStorage = hidden.storage
            y = (hidden * hidden).sum()
        }
        XCTAssertNotNil(weakStorage, "the graph holds the activation until backward")
        y.backward()
        y = Tensor([0])
        XCTAssertNil(weakStorage, "backward freed the saved activation")
    }

    func testNonScalarBackwardNeedsMatchingGradient() {
        let x = Tensor([1, 2, 3]).requiringGrad()
        (x * 2).backward(Tensor([1, 0, -1]))
        XCTAssertEqual(x.grad?.toArray(), [2, 0, -2])
    }

    func testSetGradAndSharedLeaf() {
        let x = Tensor([1, 2]).requiringGrad()
        x.setGrad(Tensor([3, 4]))
        XCTAssertEqual(x.grad?.toArray(), [3, 4])
        let alias = x  // same leaf: the gradient is shared
        (alias * 1).sum().backward()
        XCTAssertEqual(x.grad?.toArray(), [4, 5])
    }
}

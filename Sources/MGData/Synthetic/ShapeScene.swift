// MGData — synthetic scenes for the embedded default (DESIGN §7): flat coloured shapes with exact boxes, so a tiny
// model can be trained and evaluated with no download.
import Foundation

/// A shape kind the synthetic scenes draw. Chosen so each fills a different fraction of its box (square 1,
/// circle π/4 ≈ 0.79, triangle 0.5, cross 0.36): MG-LLaVA's box tokens are RoIAlign *means*, which keep little
/// geometry beyond that fraction.
public enum ShapeKind: String, CaseIterable, Sendable, Codable {
    case circle, square, triangle, cross
}

/// A named flat colour. Hues far apart, so a frozen random vision tower still separates them.
public struct ShapeColour: Hashable, Sendable {
    public var name: String
    public var rgb: RGBColor

    public static let palette: [ShapeColour] = [
        ShapeColour(name: "red", rgb: RGBColor(red: 220, green: 40, blue: 40)),
        ShapeColour(name: "green", rgb: RGBColor(red: 40, green: 170, blue: 60)),
        ShapeColour(name: "blue", rgb: RGBColor(red: 40, green: 80, blue: 220)),
        ShapeColour(name: "yellow", rgb: RGBColor(red: 235, green: 210, blue: 40)),
        ShapeColour(name: "purple", rgb: RGBColor(red: 140, green: 60, blue: 180)),
        ShapeColour(name: "orange", rgb: RGBColor(red: 245, green: 140, blue: 30))
    ]
}

/// One shape: its kind, colour and bounding box (xyxy, whole pixels, exclusive right/bottom edge).
public struct PlacedShape: Sendable {
    public var kind: ShapeKind
    public var colour: ShapeColour
    public var box: [Int]

    public var centreX: Double { Double(box[0] + box[2]) / 2 }
    public var centreY: Double { Double(box[1] + box[3]) / 2 }

    /// Whether the pixel whose centre is (x + ½, y + ½) is inside the shape.
    func contains(x: Int, y: Int) -> Bool {
        let px = Double(x) + 0.5, py = Double(y) + 0.5
        let x1 = Double(box[0]), y1 = Double(box[1]), x2 = Double(box[2]), y2 = Double(box[3])
        guard px >= x1, px < x2, py >= y1, py < y2 else { return false }
        let hw = (x2 - x1) / 2, hh = (y2 - y1) / 2
        switch kind {
        case .square: return true
        case .circle:
            let dx = (px - centreX) / hw, dy = (py - centreY) / hh
            return dx * dx + dy * dy <= 1
        case .cross:
            // Two bars through the centre, each a fifth of the side wide.
            return abs(px - centreX) <= 0.2 * hw || abs(py - centreY) <= 0.2 * hh
        case .triangle:
            // Apex at the top centre, base along the bottom edge: inside when the half-width at this height
            // covers the pixel.
            let t = (py - y1) / (y2 - y1)
            return abs(px - centreX) <= hw * t
        }
    }
}

/// A canvas with one or more non-overlapping shapes.
public struct ShapeScene: Sendable {
    public var width: Int
    public var height: Int
    public var background: RGBColor
    /// Left to right by centre.
    public var shapes: [PlacedShape]

    /// A random scene: `count` shapes with distinct kinds and distinct colours, sides 26…42 px, boxes apart.
    public static func random(count: Int, generator: inout Generator) -> ShapeScene {
        let sizes = [(96, 96), (112, 84), (84, 112)]
        let (width, height) = sizes[generator.nextInt(below: sizes.count)]
        let grey = 228 + generator.nextInt(below: 20)
        let background = RGBColor(
            red: UInt8(grey), green: UInt8(grey - generator.nextInt(below: 6)),
            blue: UInt8(grey - generator.nextInt(below: 6)))
        let kinds = pick(ShapeKind.allCases, count, &generator)
        let colours = pick(ShapeColour.palette, count, &generator)
        var shapes: [PlacedShape] = []
        for i in 0..<count {
            // Rejection sampling for a free spot; 200 tries always suffice for ≤ 3 shapes on these canvases, and
            // if they did not the shape is dropped rather than overlapped.
            for _ in 0..<200 {
                let side = 26 + generator.nextInt(below: 17)
                let x = generator.nextInt(below: width - side + 1), y = generator.nextInt(below: height - side + 1)
                let box = [x, y, x + side, y + side]
                let apart = shapes.allSatisfy { s in
                    box[2] + 2 <= s.box[0] || s.box[2] + 2 <= box[0] || box[3] + 2 <= s.box[1] || s.box[3] + 2 <= box[1]
                }
                if apart {
                    shapes.append(PlacedShape(kind: kinds[i], colour: colours[i], box: box))
                    break
                }
            }
        }
        shapes.sort { $0.centreX < $1.centreX }
        return ShapeScene(width: width, height: height, background: background, shapes: shapes)
    }

    /// `count` distinct elements of `items` in random order.
    static func pick<T>(_ items: [T], _ count: Int, _ generator: inout Generator) -> [T] {
        Array(generator.permutation(items.count).prefix(count).map { items[$0] })
    }

    /// The scene's pixels.
    public func render() -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                var c = background
                for shape in shapes where shape.contains(x: x, y: y) { c = shape.colour.rgb }
                let o = (y * width + x) * 3
                pixels[o] = c.red
                pixels[o + 1] = c.green
                pixels[o + 2] = c.blue
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The box JSON entry upstream's detector would give: xyxy integer boxes, the kind as the tag, score 1.
    public func boxRecord(id: BoxRecordID) -> BoxRecord {
        BoxRecord(
            id: id, boxes: shapes.map { $0.box.map(Double.init) }, labels: shapes.map(\.kind.rawValue),
            scores: shapes.map { _ in 1 })
    }
}

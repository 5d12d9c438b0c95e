/// A set of unsigned 128-bit numbers stored as disjoint, non-adjacent closed intervals in a
/// persistent AVL tree.
///
/// Every operation is O(log n) in the number of intervals, and memory is proportional to the
/// number of intervals, never to how many numbers they cover: a /64 is one node. The tree is
/// immutable and shared between copies, so the set is a cheap value type.
///
/// It holds at most 2^128 - 1 numbers (`count` must fit a `UInt128`); the config parser rejects
/// the one range that large (`::/0`) before it gets here.
package struct IntervalSet: Sendable, Equatable, CustomStringConvertible {
    private var root: Node?
    /// How many numbers the set holds.
    package private(set) var count: UInt128 = 0
    /// How many maximal intervals the set holds.
    package private(set) var intervalCount: Int = 0

    /// The empty set.
    package init() {}

    /// A set holding every number in `interval`.
    package init(_ interval: ClosedRange<UInt128>) {
        insert(interval)
    }

    /// True when the set holds no number.
    package var isEmpty: Bool { root == nil }

    /// The smallest member.
    package var min: UInt128? {
        var node = root
        while let left = node?.left { node = left }
        return node?.lo
    }

    /// True when `x` is a member.
    package func contains(_ x: UInt128) -> Bool {
        guard let f = Node.floor(root, x) else { return false }
        return x <= f.hi
    }

    /// The smallest member that is `>= x`.
    package func firstMember(atLeast x: UInt128) -> UInt128? {
        if let f = Node.floor(root, x), x <= f.hi { return x }
        return Node.ceiling(root, x)?.lo
    }

    /// Adds `x`; returns false when it was already a member.
    @discardableResult
    package mutating func insert(_ x: UInt128) -> Bool {
        insert(x...x) == 1
    }

    /// Adds every number of `interval`; returns how many were not members before.
    @discardableResult
    package mutating func insert(_ interval: ClosedRange<UInt128>) -> UInt128 {
        var lo = interval.lowerBound
        var hi = interval.upperBound
        let before = count
        // Absorb every interval that overlaps or touches [lo, hi].
        if let f = Node.floor(root, lo), lo == 0 || f.hi >= lo - 1 {
            remove(node: f)
            lo = f.lo
            hi = Swift.max(hi, f.hi)
        }
        while let c = Node.ceilingOrEqual(root, lo), hi == .max || c.lo <= hi + 1 {
            remove(node: c)
            hi = Swift.max(hi, c.hi)
        }
        add(lo, hi)
        return count - before
    }

    /// Removes `x`; returns false when it was not a member.
    @discardableResult
    package mutating func remove(_ x: UInt128) -> Bool {
        guard let f = Node.floor(root, x), x <= f.hi else { return false }
        remove(node: f)
        if f.lo < x { add(f.lo, x - 1) }
        if x < f.hi { add(x + 1, f.hi) }
        return true
    }

    /// The member intervals in ascending order.
    package var intervals: [ClosedRange<UInt128>] {
        var out: [ClosedRange<UInt128>] = []
        out.reserveCapacity(intervalCount)
        Node.inOrder(root) { out.append($0.lo...$0.hi) }
        return out
    }

    package static func == (lhs: IntervalSet, rhs: IntervalSet) -> Bool {
        lhs.count == rhs.count && lhs.intervals == rhs.intervals
    }

    package var description: String {
        "{"
            + intervals.map {
                $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)"
            }
            .joined(separator: ", ") + "}"
    }

    private mutating func add(_ lo: UInt128, _ hi: UInt128) {
        root = Node.insert(root, lo: lo, hi: hi)
        count += hi - lo + 1
        intervalCount += 1
    }

    private mutating func remove(node: Node) {
        root = Node.remove(root, lo: node.lo)
        count -= node.hi - node.lo + 1
        intervalCount -= 1
    }
}

extension IntervalSet {
    /// An immutable AVL node keyed by `lo`. Updates copy the path from the root (persistence).
    fileprivate final class Node: Sendable {
        let lo: UInt128
        let hi: UInt128
        let left: Node?
        let right: Node?
        let height: Int8

        init(lo: UInt128, hi: UInt128, left: Node?, right: Node?) {
            self.lo = lo
            self.hi = hi
            self.left = left
            self.right = right
            self.height = Swift.max(left?.height ?? 0, right?.height ?? 0) + 1
        }

        func with(left: Node?, right: Node?) -> Node {
            Node(lo: lo, hi: hi, left: left, right: right)
        }

        static func height(_ n: Node?) -> Int8 { n?.height ?? 0 }

        static func balance(_ n: Node) -> Node {
            let bf = Int(height(n.left)) - Int(height(n.right))
            if bf > 1, let l = n.left {
                let l2 = height(l.left) >= height(l.right) ? l : rotateLeft(l)
                return rotateRight(n.with(left: l2, right: n.right))
            }
            if bf < -1, let r = n.right {
                let r2 = height(r.right) >= height(r.left) ? r : rotateRight(r)
                return rotateLeft(n.with(left: n.left, right: r2))
            }
            return n
        }

        static func rotateRight(_ n: Node) -> Node {
            guard let l = n.left else { return n }
            return l.with(left: l.left, right: n.with(left: l.right, right: n.right))
        }

        static func rotateLeft(_ n: Node) -> Node {
            guard let r = n.right else { return n }
            return r.with(left: n.with(left: n.left, right: r.left), right: r.right)
        }

        static func insert(_ n: Node?, lo: UInt128, hi: UInt128) -> Node {
            guard let n else { return Node(lo: lo, hi: hi, left: nil, right: nil) }
            if lo < n.lo { return balance(n.with(left: insert(n.left, lo: lo, hi: hi), right: n.right)) }
            if lo > n.lo { return balance(n.with(left: n.left, right: insert(n.right, lo: lo, hi: hi))) }
            return Node(lo: lo, hi: hi, left: n.left, right: n.right)
        }

        static func remove(_ n: Node?, lo: UInt128) -> Node? {
            guard let n else { return nil }
            if lo < n.lo { return balance(n.with(left: remove(n.left, lo: lo), right: n.right)) }
            if lo > n.lo { return balance(n.with(left: n.left, right: remove(n.right, lo: lo))) }
            guard let r = n.right else { return n.left }
            guard let l = n.left else { return r }
            var m = r
            while let ml = m.left { m = ml }
            return balance(Node(lo: m.lo, hi: m.hi, left: l, right: removeMin(r)))
        }

        static func removeMin(_ n: Node) -> Node? {
            guard let l = n.left else { return n.right }
            return balance(n.with(left: removeMin(l), right: n.right))
        }

        /// The node with the greatest `lo <= x`.
        static func floor(_ root: Node?, _ x: UInt128) -> Node? {
            var node = root
            var best: Node?
            while let n = node {
                if n.lo <= x {
                    best = n
                    node = n.right
                } else {
                    node = n.left
                }
            }
            return best
        }

        /// The node with the least `lo > x`.
        static func ceiling(_ root: Node?, _ x: UInt128) -> Node? {
            var node = root
            var best: Node?
            while let n = node {
                if n.lo > x {
                    best = n
                    node = n.left
                } else {
                    node = n.right
                }
            }
            return best
        }

        /// The node with the least `lo >= x`.
        static func ceilingOrEqual(_ root: Node?, _ x: UInt128) -> Node? {
            var node = root
            var best: Node?
            while let n = node {
                if n.lo >= x {
                    best = n
                    node = n.left
                } else {
                    node = n.right
                }
            }
            return best
        }

        static func inOrder(_ n: Node?, _ body: (Node) -> Void) {
            guard let n else { return }
            inOrder(n.left, body)
            body(n)
            inOrder(n.right, body)
        }
    }
}

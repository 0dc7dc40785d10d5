//! A subscription trie: a set of byte-string prefixes, each with a reference count,
//! asked "does any prefix match the start of this message?".
//!
//! PUB/SUB filtering is by prefix (RFC 29): a message matches when one of the subscribed
//! topics is a prefix of its first frame, and the empty topic matches everything.
//! Subscriptions are counted: subscribing "A" twice takes two cancels to undo.
//!
//! The trie is compressed (a radix tree): each edge holds a run of bytes, so a long topic
//! costs one node, not one per byte, and memory stays proportional to the bytes subscribed.
//! Matching walks the message's bytes from the root and stops at the first node that holds a
//! subscription, so its cost depends on the length of the message's prefix that the trie
//! knows, never on how many topics there are.
//!
//! Nodes live in one arena (`Vec`) and refer to each other by index, and every walk is a loop:
//! a peer that subscribes to a million nested topics cannot make a recursive drop or walk
//! overflow the stack.

/// Index of a node in the arena. The root is always node 0.
type NodeId = usize;

const ROOT: NodeId = 0;

#[derive(Debug, Default, Clone)]
struct Node {
    /// The bytes on the edge from the parent to this node; empty only for the root.
    label: Box<[u8]>,
    /// How many times the prefix ending at this node was added and not yet removed.
    count: u64,
    /// Children, sorted by the first byte of their label (which is unique among siblings).
    children: Vec<(u8, NodeId)>,
}

impl Node {
    fn child(&self, byte: u8) -> Result<NodeId, usize> {
        self.children
            .binary_search_by_key(&byte, |&(b, _)| b)
            .map(|i| self.children[i].1)
    }
}

/// A counted set of prefixes with prefix matching.
///
/// Invariant: every node but the root holds a subscription (`count > 0`) or has at least two
/// children, so the trie never holds more than twice as many nodes as distinct prefixes.
#[derive(Debug, Clone)]
pub(crate) struct Trie {
    nodes: Vec<Node>,
    /// Arena slots of removed nodes, reused before the arena grows.
    free: Vec<NodeId>,
    /// Distinct prefixes with a count above zero.
    len: usize,
}

impl Default for Trie {
    fn default() -> Self {
        Trie::new()
    }
}

impl Trie {
    /// An empty trie: it matches nothing.
    pub(crate) fn new() -> Self {
        Trie {
            nodes: vec![Node::default()],
            free: Vec::new(),
            len: 0,
        }
    }

    /// The number of distinct prefixes held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when no prefix is held (nothing matches).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds one reference to `prefix`. Returns true when the prefix was not held before.
    pub(crate) fn add(&mut self, prefix: &[u8]) -> bool {
        let mut node = ROOT;
        let mut rest = prefix;
        while let Some(&first) = rest.first() {
            match self.nodes[node].child(first) {
                Err(at) => {
                    let leaf = self.alloc(Node {
                        label: rest.into(),
                        count: 0,
                        children: Vec::new(),
                    });
                    self.nodes[node].children.insert(at, (first, leaf));
                    node = leaf;
                    rest = &[];
                }
                Ok(child) => {
                    let label_len = self.nodes[child].label.len();
                    let common = common_prefix_len(&self.nodes[child].label, rest);
                    node = if common < label_len {
                        self.split(node, child, common)
                    } else {
                        child
                    };
                    rest = &rest[common..];
                }
            }
        }
        let n = &mut self.nodes[node];
        n.count = n.count.saturating_add(1);
        if n.count == 1 {
            self.len += 1;
            true
        } else {
            false
        }
    }

    /// Removes one reference to `prefix`. Returns true when that was the last one, so the
    /// prefix is no longer held; false when references remain or the prefix was not held.
    pub(crate) fn remove(&mut self, prefix: &[u8]) -> bool {
        let Some((node, parent)) = self.find(prefix) else {
            return false;
        };
        let n = &mut self.nodes[node];
        if n.count == 0 {
            return false;
        }
        n.count -= 1;
        if n.count > 0 {
            return false;
        }
        self.len -= 1;
        if self.len == 0 {
            // Give every node back at once.
            *self = Trie::new();
            return true;
        }
        if let Some(parent) = parent {
            self.compact(parent, node);
        }
        true
    }

    /// True when `prefix` itself is held (not merely matched by a shorter one).
    pub(crate) fn contains(&self, prefix: &[u8]) -> bool {
        self.find(prefix)
            .is_some_and(|(node, _)| self.nodes[node].count > 0)
    }

    /// True when some held prefix is a prefix of `data`.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        let mut node = &self.nodes[ROOT];
        let mut rest = data;
        loop {
            if node.count > 0 {
                return true;
            }
            let Some(&first) = rest.first() else {
                return false;
            };
            let Ok(child) = node.child(first) else {
                return false;
            };
            node = &self.nodes[child];
            match rest.strip_prefix(&*node.label) {
                Some(after) => rest = after,
                None => return false,
            }
        }
    }

    /// Calls `f` once with each held prefix, in lexicographic order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8])) {
        let mut path = Vec::new();
        let mut stack = vec![(ROOT, 0usize)];
        while let Some((id, depth)) = stack.pop() {
            let node = &self.nodes[id];
            path.truncate(depth);
            path.extend_from_slice(&node.label);
            if node.count > 0 {
                f(&path);
            }
            stack.extend(node.children.iter().rev().map(|&(_, c)| (c, path.len())));
        }
    }

    /// The node holding exactly `prefix`, with its parent (`None` for the root).
    fn find(&self, prefix: &[u8]) -> Option<(NodeId, Option<NodeId>)> {
        let mut node = ROOT;
        let mut parent = None;
        let mut rest = prefix;
        while let Some(&first) = rest.first() {
            let child = self.nodes[node].child(first).ok()?;
            rest = rest.strip_prefix(&*self.nodes[child].label)?;
            parent = Some(node);
            node = child;
        }
        Some((node, parent))
    }

    /// Cuts `child`'s edge after `at` bytes (`0 < at < label length`), putting a new
    /// empty node in the middle, and returns that node.
    fn split(&mut self, parent: NodeId, child: NodeId, at: usize) -> NodeId {
        let label = std::mem::take(&mut self.nodes[child].label);
        let (head, tail) = label.split_at(at);
        self.nodes[child].label = tail.into();
        let middle = self.alloc(Node {
            label: head.into(),
            count: 0,
            children: tail.first().map(|&b| (b, child)).into_iter().collect(),
        });
        let siblings = &mut self.nodes[parent].children;
        if let Some(entry) = siblings.iter_mut().find(|(_, c)| *c == child) {
            entry.1 = middle;
        }
        middle
    }

    /// Restores the invariant after `node`, a child of `parent`, lost its last reference.
    fn compact(&mut self, parent: NodeId, node: NodeId) {
        match self.nodes[node].children.len() {
            0 => {
                self.nodes[parent].children.retain(|&(_, c)| c != node);
                self.release(node);
                // The parent may now be an empty node with a single child.
                if parent != ROOT
                    && self.nodes[parent].count == 0
                    && self.nodes[parent].children.len() == 1
                {
                    self.merge_with_only_child(parent);
                }
            }
            1 => self.merge_with_only_child(node),
            _ => {}
        }
    }

    /// Folds the single child of `node` into it: labels join, the child's count and
    /// children move up, and the child's slot is freed.
    fn merge_with_only_child(&mut self, node: NodeId) {
        let Some(&(_, child)) = self.nodes[node].children.first() else {
            return;
        };
        let taken = std::mem::take(&mut self.nodes[child]);
        self.release(child);
        let n = &mut self.nodes[node];
        let mut label = std::mem::take(&mut n.label).into_vec();
        label.extend_from_slice(&taken.label);
        n.label = label.into_boxed_slice();
        n.count = taken.count;
        n.children = taken.children;
    }

    fn alloc(&mut self, node: Node) -> NodeId {
        match self.free.pop() {
            Some(id) => {
                self.nodes[id] = node;
                id
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    fn release(&mut self, id: NodeId) {
        self.nodes[id] = Node::default();
        self.free.push(id);
    }

    /// Nodes in use, for tests of the size bound.
    #[cfg(test)]
    fn live_nodes(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Checks the structural invariants, for tests.
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![ROOT];
        let mut held = 0;
        while let Some(id) = stack.pop() {
            assert!(!seen[id], "node {id} reachable twice");
            seen[id] = true;
            let n = &self.nodes[id];
            if id != ROOT {
                assert!(!n.label.is_empty(), "empty label below the root");
                assert!(
                    n.count > 0 || n.children.len() >= 2,
                    "node {id} holds nothing and has {} children",
                    n.children.len()
                );
            }
            held += usize::from(n.count > 0);
            for w in n.children.windows(2) {
                assert!(w[0].0 < w[1].0, "children out of order");
            }
            for &(b, c) in &n.children {
                assert_eq!(self.nodes[c].label.first(), Some(&b), "child key mismatch");
                stack.push(c);
            }
        }
        assert_eq!(held, self.len, "len out of step");
        assert_eq!(
            seen.iter().filter(|s| **s).count(),
            self.live_nodes(),
            "free list out of step with the reachable nodes"
        );
    }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn all(t: &Trie) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        t.for_each(|p| out.push(p.to_vec()));
        out
    }

    #[test]
    fn an_empty_trie_matches_nothing() {
        let t = Trie::new();
        assert!(!t.matches(b""));
        assert!(!t.matches(b"anything"));
        assert!(t.is_empty());
    }

    #[test]
    fn the_empty_prefix_matches_everything() {
        let mut t = Trie::new();
        assert!(t.add(b""));
        assert!(t.matches(b""));
        assert!(t.matches(b"\x00\xff"));
        assert_eq!(all(&t), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn prefixes_match_longer_data_but_not_shorter_or_different() {
        let mut t = Trie::new();
        t.add(b"weather.");
        assert!(t.matches(b"weather."));
        assert!(t.matches(b"weather.paris 21"));
        assert!(!t.matches(b"weather"));
        assert!(!t.matches(b"weathes."));
        assert!(!t.matches(b""));
    }

    #[test]
    fn subscriptions_are_counted() {
        let mut t = Trie::new();
        assert!(t.add(b"A"));
        assert!(!t.add(b"A"), "second add is not new");
        assert!(!t.remove(b"A"), "one reference remains");
        assert!(t.matches(b"ABC"));
        assert!(t.remove(b"A"), "last reference");
        assert!(!t.matches(b"ABC"));
        assert!(!t.remove(b"A"), "nothing left to remove");
        t.check_invariants();
    }

    #[test]
    fn removing_an_unknown_prefix_changes_nothing() {
        let mut t = Trie::new();
        t.add(b"abc");
        assert!(!t.remove(b"ab"), "an inner point of an edge is not held");
        assert!(!t.remove(b"abcd"));
        assert!(!t.remove(b"x"));
        assert!(t.matches(b"abcz"));
        assert_eq!(t.len(), 1);
        t.check_invariants();
    }

    #[test]
    fn overlapping_prefixes_split_and_merge_edges() {
        let mut t = Trie::new();
        for p in [&b"abcdef"[..], b"abc", b"abx", b"b"] {
            assert!(t.add(p));
            t.check_invariants();
        }
        assert_eq!(all(&t), [&b"abc"[..], b"abcdef", b"abx", b"b"]);
        assert!(t.matches(b"abcz"));
        assert!(t.matches(b"abxy"));
        assert!(!t.matches(b"abz"));
        assert!(t.remove(b"abc"));
        t.check_invariants();
        assert!(!t.matches(b"abcz"));
        assert!(t.matches(b"abcdefg"));
        assert!(t.remove(b"abx"));
        t.check_invariants();
        assert!(t.contains(b"abcdef"));
        assert!(!t.contains(b"abc"));
        // "abcdef" and "b" are left: two leaves under the root.
        assert_eq!(t.live_nodes(), 3);
    }

    #[test]
    fn a_long_topic_is_one_node_and_deep_nesting_does_not_recurse() {
        let mut t = Trie::new();
        let long = vec![b'x'; 1 << 20];
        t.add(&long);
        assert_eq!(t.live_nodes(), 2);
        // 2 000 nested topics: a chain of that depth. Walking, listing, clearing and
        // dropping it must not use the stack per level.
        let mut deep = Trie::new();
        let topic = vec![b'a'; 2_000];
        for n in 1..=topic.len() {
            deep.add(&topic[..n]);
        }
        assert!(deep.matches(&topic));
        let mut count = 0;
        deep.for_each(|_| count += 1);
        assert_eq!(count, 2_000);
        for n in (1..=topic.len()).rev() {
            assert!(deep.remove(&topic[..n]));
        }
        assert!(deep.is_empty());
        assert_eq!(deep.live_nodes(), 1);
        for n in 1..=1000 {
            deep.add(&topic[..n]);
        }
        drop(deep);
    }

    #[test]
    fn memory_is_given_back_when_everything_is_removed() {
        let mut t = Trie::new();
        for i in 0..1000u32 {
            t.add(i.to_string().as_bytes());
        }
        for i in 0..1000u32 {
            assert!(t.remove(i.to_string().as_bytes()));
        }
        assert_eq!(t.nodes.len(), 1);
        assert!(t.free.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(Vec<u8>),
        Remove(Vec<u8>),
        Match(Vec<u8>),
    }

    /// Short strings over a three-letter alphabet collide and nest often.
    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(vec![b'a', b'b', 0xff]), 0..5)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => bytes().prop_map(Op::Add),
            2 => bytes().prop_map(Op::Remove),
            3 => prop::collection::vec(prop::sample::select(vec![b'a', b'b', 0xff]), 0..8)
                .prop_map(Op::Match),
        ]
    }

    proptest! {
        /// The trie agrees with a multiset of prefixes for any sequence of operations.
        #[test]
        fn agrees_with_a_naive_multiset(ops in prop::collection::vec(op(), 0..200)) {
            let mut trie = Trie::new();
            let mut model: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Add(p) => {
                        let count = model.entry(p.clone()).or_default();
                        *count += 1;
                        prop_assert_eq!(trie.add(&p), *count == 1);
                    }
                    Op::Remove(p) => {
                        let expected = match model.get_mut(&p) {
                            Some(count) => {
                                *count -= 1;
                                *count == 0
                            }
                            None => false,
                        };
                        model.retain(|_, c| *c > 0);
                        prop_assert_eq!(trie.remove(&p), expected);
                    }
                    Op::Match(d) => {
                        let expected = model.keys().any(|k| d.starts_with(k));
                        prop_assert_eq!(trie.matches(&d), expected);
                    }
                }
                trie.check_invariants();
                prop_assert_eq!(trie.len(), model.len());
                prop_assert!(trie.live_nodes() <= 2 * model.len() + 1);
                let listed = all(&trie);
                let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
                prop_assert_eq!(listed, keys);
                for k in model.keys() {
                    prop_assert!(trie.contains(k));
                }
            }
        }
    }
}

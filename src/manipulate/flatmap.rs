//! The tree behind KrakenD's `flatmap_filter` (krakend/flatmap v1.1.1 `tree/`, used by lura
//! v2.9.1 `proxy/formatter.go:254-274`), rebuilt on an arena.
//!
//! A value is decomposed into nodes: an object or array becomes a node with one labelled edge
//! per member (array members are labelled `"0"`, `"1"`, ...), anything else (and an empty object
//! or array) a leaf holding its value. Operations relabel, detach and re-attach edges; the result
//! is rebuilt from the edges, so its quirks are those of the tree, reproduced here on purpose:
//!
//! * a node whose edges were all removed rebuilds as the value it held when it was flattened,
//!   which for a non-empty object or array is Go's nil: `null` (`{"a":{"b":1}}` minus `a.b` is
//!   `{"a":null}`; minus every top-level key the whole answer is `null`);
//! * an array node rebuilds its elements in edge order whatever their labels, so relabelling an
//!   element changes nothing visible and removing one closes the gap;
//! * duplicate labels can exist (a moved edge landing where a key already is); lookups take the
//!   first, the rebuilt object keeps the last.
//!
//! Go flattens an object's members in its (random) map iteration order; here members are
//! flattened in key order. The results differ only where that order shows: a relabel colliding
//! with an existing key (`move a → b` when `b` exists: KrakenD keeps either value at random, this
//! keeps the value whose original key sorts later), or a wildcard over an object's members (not
//! an array's) feeding `append` (element order) or a promotion of several matches to one label
//! (which one wins). A randomised comparison with the Go code (15,000 configurations and answers)
//! found no other difference.

use serde_json::{Map, Value};

const WILDCARD: &str = "*";

#[derive(Debug, Default)]
struct Node {
    /// What a leaf rebuilds as; Go's `node.Value` (nil is `Value::Null`).
    value: Value,
    /// Rebuild the edges as an array rather than an object.
    collection: bool,
    /// Labelled children, in order: `(label, node index)`.
    edges: Vec<(String, usize)>,
}

/// A detached edge on its way to its new place: `(parent it came from, path to that parent,
/// child node)`.
type Detached = (usize, Vec<String>, usize);

#[derive(Debug)]
pub(super) struct Tree {
    nodes: Vec<Node>,
}

const ROOT: usize = 0;

impl Tree {
    /// `tree.New(data)` (tree.go:17-29).
    pub(super) fn new(data: Map<String, Value>) -> Tree {
        let mut t = Tree {
            nodes: vec![Node::default()],
        };
        t.flatten(ROOT, Value::Object(data));
        t
    }

    /// `tree.Get([]string{})` asserted to a map (formatter.go:273): the object the root rebuilds
    /// as, or `None` (Go's nil map) when it rebuilds as anything else.
    pub(super) fn into_data(self) -> Option<Map<String, Value>> {
        match self.expand(ROOT) {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    fn new_node(&mut self) -> usize {
        self.nodes.push(Node::default());
        self.nodes.len() - 1
    }

    fn edges(&self, n: usize) -> &[(String, usize)] {
        self.nodes.get(n).map(|x| x.edges.as_slice()).unwrap_or(&[])
    }

    fn child(&self, n: usize, label: &str) -> Option<usize> {
        self.edges(n)
            .iter()
            .find(|(l, _)| l == label)
            .map(|&(_, c)| c)
    }

    fn push_edge(&mut self, n: usize, label: String, child: usize) {
        if let Some(node) = self.nodes.get_mut(n) {
            node.edges.push((label, child));
        }
    }

    /// `node.flatten` (node.go:147-173). A non-empty object or array leaves `value` as it was.
    fn flatten(&mut self, n: usize, v: Value) {
        match v {
            Value::Object(m) => {
                let Some(node) = self.nodes.get_mut(n) else {
                    return;
                };
                node.collection = false;
                if m.is_empty() {
                    node.value = Value::Object(m);
                    return;
                }
                for (k, e) in m {
                    self.add(n, std::slice::from_ref(&k), e);
                }
            }
            Value::Array(a) => {
                let Some(node) = self.nodes.get_mut(n) else {
                    return;
                };
                node.collection = true;
                if a.is_empty() {
                    node.value = Value::Array(a);
                    return;
                }
                for (i, e) in a.into_iter().enumerate() {
                    self.add(n, &[i.to_string()], e);
                }
            }
            other => {
                if let Some(node) = self.nodes.get_mut(n) {
                    node.collection = false;
                    node.value = other;
                }
            }
        }
    }

    /// `node.Add` (node.go:28-44): walks (creating what is missing) and flattens `v` into the
    /// node at the end, merging with whatever that node already holds.
    fn add(&mut self, n: usize, ks: &[String], v: Value) {
        let Some((k, rest)) = ks.split_first() else {
            self.flatten(n, v);
            return;
        };
        let c = match self.child(n, k) {
            Some(c) => c,
            None => {
                let c = self.new_node();
                self.push_edge(n, k.clone(), c);
                c
            }
        };
        self.add(c, rest, v);
    }

    /// `node.Del` (node.go:46-80).
    pub(super) fn del(&mut self, ks: &[String]) {
        self.del_at(ROOT, ks);
    }

    fn del_at(&mut self, n: usize, ks: &[String]) {
        let Some((k, rest)) = ks.split_first() else {
            return;
        };
        if self.edges(n).is_empty() {
            return;
        }
        if k == WILDCARD {
            if rest.is_empty() {
                if let Some(node) = self.nodes.get_mut(n) {
                    node.edges.clear();
                }
            } else {
                let children: Vec<usize> = self.edges(n).iter().map(|&(_, c)| c).collect();
                for c in children {
                    self.del_at(c, rest);
                }
            }
            return;
        }
        let Some(pos) = self.edges(n).iter().position(|(l, _)| l == k) else {
            return;
        };
        if rest.is_empty() {
            if let Some(node) = self.nodes.get_mut(n) {
                node.edges.remove(pos);
            }
        } else if let Some(&(_, c)) = self.edges(n).get(pos) {
            self.del_at(c, rest);
        }
    }

    /// `node.Get` (node.go:82-108): `*` collects every child into an array; a missing path is
    /// `null`.
    fn get(&self, n: usize, ks: &[String]) -> Value {
        let edges = self.edges(n);
        let Some((k, rest)) = ks.split_first() else {
            return self.expand(n);
        };
        if edges.is_empty() {
            return Value::Null;
        }
        if k == WILDCARD {
            return Value::Array(edges.iter().map(|&(_, c)| self.get(c, rest)).collect());
        }
        match self.child(n, k) {
            Some(c) => self.get(c, rest),
            None => Value::Null,
        }
    }

    /// `node.expand` (node.go:125-145).
    fn expand(&self, n: usize) -> Value {
        let Some(node) = self.nodes.get(n) else {
            return Value::Null;
        };
        if node.edges.is_empty() {
            return node.value.clone();
        }
        if node.collection {
            return Value::Array(node.edges.iter().map(|&(_, c)| self.expand(c)).collect());
        }
        let mut m = Map::new();
        for (l, c) in &node.edges {
            m.insert(l.clone(), self.expand(*c)); // a later duplicate label wins
        }
        Value::Object(m)
    }

    /// `Tree.Append` (tree.go:45-58): both paths must hold arrays; `dst` becomes `dst + src`
    /// (flattened into the existing `dst` node), then `src` is deleted.
    pub(super) fn append(&mut self, src: &[String], dst: &[String]) {
        let Value::Array(tail) = self.get(ROOT, src) else {
            return;
        };
        let Value::Array(mut joined) = self.get(ROOT, dst) else {
            return;
        };
        joined.extend(tail);
        self.add(ROOT, dst, Value::Array(joined));
        self.del_at(ROOT, src);
    }

    /// `Tree.Move` (tree.go:66-120).
    ///
    /// The parents of `src` are found by following its prefix (`*` takes every child, a name the
    /// first matching child); from each, the first edge labelled like the last segment of `src`
    /// (literally, even `*`) is taken. Then, by the lengths of `src` and `dst`:
    /// * equal: the edge is only relabelled with the last segment of `dst` — the rest of `dst`
    ///   is ignored (`a.b → x.c` gives `a.c`);
    /// * `dst` shorter (promotion): the edge is re-attached under the path `dst` minus its last
    ///   segment, followed from the root as far as it exists (`*` takes the segment of the
    ///   source's own path) — no node is created, so a missing step leaves it higher up;
    /// * `dst` longer (embedding): the segments of `dst` after the first `len(src) - 1` are
    ///   followed, created as needed, from the edge's own parent — the first `len(src) - 1`
    ///   segments of `dst` are ignored.
    pub(super) fn mv(&mut self, src: &[String], dst: &[String]) {
        let Some((last, prefix)) = src.split_last() else {
            return;
        };
        let Some(dst_last) = dst.last() else {
            return;
        };
        let mut candidates = vec![(ROOT, Vec::new())];
        if !prefix.is_empty() {
            candidates = self.collect(prefix, candidates);
        }
        let relabel = src.len() == dst.len();
        let mut detached: Vec<Detached> = Vec::new();
        for (n, path) in candidates {
            let Some(node) = self.nodes.get_mut(n) else {
                continue;
            };
            let Some(pos) = node.edges.iter().position(|(l, _)| l == last) else {
                continue;
            };
            if relabel {
                if let Some(edge) = node.edges.get_mut(pos) {
                    edge.0 = dst_last.clone();
                }
            } else {
                let (_, c) = node.edges.remove(pos);
                detached.push((n, path, c));
            }
        }
        if relabel {
            return;
        }
        if src.len() > dst.len() {
            self.promote(detached, dst);
        } else {
            self.embed(detached, dst.get(src.len() - 1..).unwrap_or_default());
        }
    }

    /// `collectMoveCandidates` (tree.go:127-149).
    fn collect(
        &self,
        steps: &[String],
        mut next: Vec<(usize, Vec<String>)>,
    ) -> Vec<(usize, Vec<String>)> {
        for step in steps {
            let mut acc = Vec::new();
            for (n, path) in &next {
                for (l, c) in self.edges(*n) {
                    if step == WILDCARD || step == l {
                        let mut p = path.clone();
                        p.push(l.clone());
                        acc.push((*c, p));
                        if step != WILDCARD {
                            break;
                        }
                    }
                }
            }
            next = acc;
        }
        next
    }

    /// `promoteEdges` (tree.go:151-182).
    fn promote(&mut self, detached: Vec<Detached>, dst: &[String]) {
        let Some((label, parents)) = dst.split_last() else {
            return;
        };
        for (_, path, c) in detached {
            let mut parent = ROOT;
            for (i, seg) in parents.iter().enumerate() {
                let l = if seg == WILDCARD {
                    path.get(i)
                } else {
                    Some(seg)
                };
                match l.and_then(|l| self.child(parent, l)) {
                    Some(next) => parent = next,
                    None => break,
                }
            }
            self.push_edge(parent, label.clone(), c);
        }
    }

    /// `embeddingEdges` (tree.go:184-209).
    fn embed(&mut self, detached: Vec<Detached>, dst: &[String]) {
        let Some((label, steps)) = dst.split_last() else {
            return;
        };
        for (from, _, c) in detached {
            let mut cur = from;
            for k in steps {
                cur = match self.child(cur, k) {
                    Some(next) => next,
                    None => {
                        let next = self.new_node();
                        self.push_edge(cur, k.clone(), next);
                        next
                    }
                };
            }
            self.push_edge(cur, label.clone(), c);
        }
    }
}

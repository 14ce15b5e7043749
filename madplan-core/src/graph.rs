//! A small directed graph over node indices: topological order and cycles.

/// Edges as adjacency lists: `deps[i]` lists the nodes `i` depends on.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    deps: Vec<Vec<usize>>,
}

impl Graph {
    /// A graph of `n` nodes without edges.
    pub fn new(n: usize) -> Self {
        Self {
            deps: vec![Vec::new(); n],
        }
    }

    /// Says that `node` depends on `on` (`on` must come first).
    pub fn depend(&mut self, node: usize, on: usize) {
        if !self.deps[node].contains(&on) {
            self.deps[node].push(on);
        }
    }

    /// The nodes `node` depends on.
    pub fn deps(&self, node: usize) -> &[usize] {
        &self.deps[node]
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.deps.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.deps.is_empty()
    }

    /// The nodes in an order where every node comes after what it depends on
    /// (ties broken by index, so the order is stable), or one cycle, as the
    /// list of nodes around it.
    pub fn topo_order(&self) -> Result<Vec<usize>, Vec<usize>> {
        let n = self.deps.len();
        let mut indegree: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut dependents = vec![Vec::new(); n];
        for (i, ds) in self.deps.iter().enumerate() {
            for &d in ds {
                dependents[d].push(i);
            }
        }
        let mut ready: std::collections::BTreeSet<usize> =
            (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &j in &dependents[i] {
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    ready.insert(j);
                }
            }
        }
        if order.len() == n {
            Ok(order)
        } else {
            Err(self.find_cycle(&indegree))
        }
    }

    fn find_cycle(&self, indegree: &[usize]) -> Vec<usize> {
        // Every node left with a positive in-degree lies on or behind a cycle;
        // walking dependencies among them must revisit a node.
        let start = (0..self.deps.len()).find(|&i| indegree[i] > 0).unwrap_or(0);
        let mut seen = vec![usize::MAX; self.deps.len()];
        let mut path = Vec::new();
        let mut cur = start;
        loop {
            if seen[cur] != usize::MAX {
                return path[seen[cur]..].to_vec();
            }
            seen[cur] = path.len();
            path.push(cur);
            match self.deps[cur].iter().find(|&&d| indegree[d] > 0) {
                Some(&next) => cur = next,
                None => return path,
            }
        }
    }

    /// Nodes that depend on `node`.
    pub fn dependents(&self, node: usize) -> Vec<usize> {
        (0..self.deps.len())
            .filter(|&i| self.deps[i].contains(&node))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dependencies_first() {
        let mut g = Graph::new(4);
        g.depend(0, 2);
        g.depend(2, 3);
        g.depend(1, 3);
        let order = g.topo_order().unwrap();
        let pos = |x| order.iter().position(|&y| y == x).unwrap();
        assert!(pos(3) < pos(2) && pos(2) < pos(0) && pos(3) < pos(1));
    }

    #[test]
    fn reports_a_cycle() {
        let mut g = Graph::new(4);
        g.depend(0, 1);
        g.depend(1, 2);
        g.depend(2, 0);
        g.depend(3, 0);
        let mut cycle = g.topo_order().unwrap_err();
        cycle.sort();
        assert_eq!(cycle, vec![0, 1, 2]);
    }
}

//! Saved KV states of conversations the engine switched away from, kept in host memory.
//!
//! The engine's context holds one sequence: the live conversation. When a request does not
//! continue it (another conversation's turn, as with evaluations at `--concurrency` above 1 or
//! several chats on one server), the live state would be cut back to the prefix the two share
//! and the rest evaluated again when that conversation returns. Instead the engine saves the
//! live state here first, and restores a saved state that shares more of a new prompt than the
//! live one does. The same idea as llama-server's host-memory prompt cache (`--cache-ram`):
//! states are exact copies, so what the model computes does not change.
//!
//! Generic over the token and the state so that the bookkeeping is tested without a model.

/// One saved conversation: the tokens its KV state holds, in order, and that state.
#[derive(Debug)]
pub(super) struct Saved<T, S> {
    pub tokens: Vec<T>,
    /// Length of the last prompt of that conversation (the rest is the reply to it).
    pub prompt_len: usize,
    pub state: S,
    /// Host memory the state takes, in bytes.
    pub bytes: usize,
    last_used: u64,
}

/// Saved states under a budget of bytes; the least recently used goes first.
#[derive(Debug)]
pub(super) struct PromptCache<T, S> {
    entries: Vec<Saved<T, S>>,
    budget_bytes: usize,
    clock: u64,
}

/// Length of the longest common prefix of `a` and `b`.
pub(super) fn shared_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<T: PartialEq, S> PromptCache<T, S> {
    /// A cache that keeps at most `budget_bytes` of states (0: keeps nothing).
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            entries: Vec::new(),
            budget_bytes,
            clock: 0,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.budget_bytes > 0
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn bytes(&self) -> usize {
        self.entries.iter().map(|e| e.bytes).sum()
    }

    /// The saved state sharing the longest prefix with `tokens`, and that length; `None` when
    /// none shares any.
    pub fn best(&self, tokens: &[T]) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, shared_prefix(&e.tokens, tokens)))
            .filter(|&(_, shared)| shared > 0)
            .max_by_key(|&(i, shared)| (shared, self.entries[i].last_used))
    }

    /// Entry `index` (from [`Self::best`]).
    pub fn get(&self, index: usize) -> &Saved<T, S> {
        &self.entries[index]
    }

    /// Marks entry `index` as just used: it is evicted last.
    pub fn touch(&mut self, index: usize) {
        self.clock += 1;
        self.entries[index].last_used = self.clock;
    }

    /// Removes entry `index` (from [`Self::best`]) and gives it to the caller: for a state that
    /// became live again and goes on, so that its copy here is stale.
    pub fn take(&mut self, index: usize) -> Saved<T, S> {
        self.entries.swap_remove(index)
    }

    /// Keeps a state, unless it alone is over the budget. States whose tokens are a prefix of
    /// the new one's are dropped (the new one serves everything they would), then the least
    /// recently used until the rest fits. Returns whether it was kept.
    pub fn insert(&mut self, tokens: Vec<T>, prompt_len: usize, state: S, bytes: usize) -> bool {
        if !self.is_enabled() || bytes > self.budget_bytes || tokens.is_empty() {
            return false;
        }
        self.entries
            .retain(|e| shared_prefix(&e.tokens, &tokens) < e.tokens.len());
        while self.bytes() + bytes > self.budget_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
            else {
                break;
            };
            self.entries.swap_remove(oldest);
        }
        self.clock += 1;
        self.entries.push(Saved {
            tokens,
            prompt_len,
            state,
            bytes,
            last_used: self.clock,
        });
        true
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(budget: usize) -> PromptCache<u32, &'static str> {
        PromptCache::new(budget)
    }

    #[test]
    fn best_is_the_longest_shared_prefix() {
        let mut c = cache(100);
        assert!(c.insert(vec![1, 2, 3, 4], 3, "a", 10));
        assert!(c.insert(vec![1, 2, 9, 9, 9], 4, "b", 10));
        assert!(c.insert(vec![7, 7], 1, "c", 10));
        assert_eq!(
            c.best(&[1, 2, 3, 4, 5])
                .map(|(i, n)| (c.entries[i].state, n)),
            Some(("a", 4))
        );
        assert_eq!(
            c.best(&[1, 2, 9, 1]).map(|(i, n)| (c.entries[i].state, n)),
            Some(("b", 3))
        );
        assert_eq!(c.best(&[8]), None);
        assert_eq!(c.best(&[]), None);
        let (i, _) = c.best(&[7, 7, 7]).unwrap();
        let taken = c.take(i);
        assert_eq!(
            (taken.state, taken.prompt_len, taken.tokens),
            ("c", 1, vec![7, 7])
        );
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn equal_prefixes_prefer_the_most_recent() {
        let mut c = cache(100);
        c.insert(vec![1, 2, 3], 2, "old", 10);
        c.insert(vec![1, 2, 4], 2, "new", 10);
        let (i, n) = c.best(&[1, 2, 5]).unwrap();
        assert_eq!((c.get(i).state, n), ("new", 2));
        let old = c.entries.iter().position(|e| e.state == "old").unwrap();
        c.touch(old);
        let (i, _) = c.best(&[1, 2, 5]).unwrap();
        assert_eq!(c.get(i).state, "old");
    }

    #[test]
    fn touching_protects_from_eviction() {
        let mut c = cache(20);
        c.insert(vec![1], 1, "a", 10);
        c.insert(vec![2], 1, "b", 10);
        c.touch(0);
        c.insert(vec![3], 1, "c", 10);
        let mut states: Vec<_> = c.entries.iter().map(|e| e.state).collect();
        states.sort_unstable();
        assert_eq!(states, ["a", "c"]);
    }

    #[test]
    fn a_longer_state_replaces_its_prefixes_only() {
        let mut c = cache(100);
        c.insert(vec![1, 2], 1, "prefix", 10);
        c.insert(vec![1, 3], 1, "sibling", 10);
        c.insert(vec![1, 2, 3], 2, "longer", 10);
        let mut states: Vec<_> = c.entries.iter().map(|e| e.state).collect();
        states.sort_unstable();
        assert_eq!(states, ["longer", "sibling"]);
        // The same tokens again replace the old copy.
        c.insert(vec![1, 2, 3], 2, "again", 10);
        assert_eq!(c.len(), 2);
        assert_eq!(c.bytes(), 20);
    }

    #[test]
    fn the_budget_evicts_the_least_recently_used() {
        let mut c = cache(30);
        c.insert(vec![1], 1, "a", 10);
        c.insert(vec![2], 1, "b", 10);
        c.insert(vec![3], 1, "c", 10);
        c.insert(vec![4], 1, "d", 15);
        let mut states: Vec<_> = c.entries.iter().map(|e| e.state).collect();
        states.sort_unstable();
        assert_eq!(states, ["c", "d"]);
        assert!(c.bytes() <= 30);
        // Too big for the budget on its own: not kept, nothing evicted.
        assert!(!c.insert(vec![5], 1, "huge", 31));
        assert_eq!(c.len(), 2);
        c.clear();
        assert_eq!((c.len(), c.bytes()), (0, 0));
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let mut c = cache(0);
        assert!(!c.is_enabled());
        assert!(!c.insert(vec![1], 1, "a", 1));
        assert_eq!(c.len(), 0);
    }
}

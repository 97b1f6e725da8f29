//! The engine's per-request maps (streams and callouts by id, metric ids by function) with a
//! multiply-rotate hash instead of std's SipHash: in Wasm, SipHash was about a tenth of the
//! filter's own time on a GET. The keys are context ids and callout tokens Envoy picks, and
//! function names in a map whose size is bounded, so a weak hash cannot be made to cost more
//! than that bound.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` hashed by [`Fast`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fast>>;

/// The FxHash step (rustc's hasher): per word, rotate, xor, multiply.
#[derive(Default, Clone, Copy)]
pub struct Fast(u64);

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Fast {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for Fast {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ (rest.len() as u64) << 56);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash(value: impl Hash) -> u64 {
        BuildHasherDefault::<Fast>::default().hash_one(value)
    }

    #[test]
    fn different_keys_hash_differently() {
        assert_ne!(hash(1u32), hash(2u32));
        assert_ne!(hash("function-a"), hash("function-b"));
        // A tail shorter than a word is not confused with the same bytes zero-padded.
        assert_ne!(hash([1u8].as_slice()), hash([1u8, 0].as_slice()));
        assert_eq!(hash("same"), hash("same"));
    }

    #[test]
    fn a_map_of_many_context_ids_finds_each() {
        let mut map: FastMap<u32, u32> = FastMap::default();
        for id in 0..10_000u32 {
            map.insert(id * 2 + 1, id);
        }
        assert!((0..10_000u32).all(|id| map.get(&(id * 2 + 1)) == Some(&id)));
        assert_eq!(map.get(&2), None);
    }
}

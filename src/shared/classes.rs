//! Size classes: the block sizes of slabs, for objects up to 256 KiB, and
//! how many pages a slab of each class spans.

/// Block sizes of the size classes: four per doubling, multiples of 64.
pub(crate) const CLASS_SIZES: [u64; 44] = [
    64, 128, 192, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120,
    6144, 7168, 8192, 10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768, 40960, 49152, 57344, 65536, 81920, 98304,
    114688, 131072, 163840, 196608, 229376, 262144,
];

/// Number of size classes.
pub(crate) const NCLASSES: usize = CLASS_SIZES.len();

/// Slabs hold at least this many blocks.
const MIN_BLOCKS: u64 = 8;

/// Bytes of a slab's header words before its block words.
pub(crate) const SLAB_HEADER_BYTES: u64 = 64;

/// Geometry of one size class.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SizeClass {
    /// Bytes per block.
    pub size: u64,
    /// Pages per slab.
    pub span: u64,
    /// Blocks per slab.
    pub blocks: u32,
    /// Offset of the first block from the slab's start (64-byte aligned).
    pub blocks_off: u64,
}

fn blocks_offset(blocks: u64) -> u64 {
    (SLAB_HEADER_BYTES + 4 * blocks).div_ceil(64) * 64
}

/// The class table for a page size.
pub(crate) fn size_classes(page_size: u64) -> Vec<SizeClass> {
    CLASS_SIZES
        .iter()
        .map(|&size| {
            let mut span = 1;
            loop {
                let bytes = span * page_size;
                let mut n = bytes / size;
                while n > 0 && blocks_offset(n) + n * size > bytes {
                    n -= 1;
                }
                if n >= MIN_BLOCKS {
                    return SizeClass { size, span, blocks: n as u32, blocks_off: blocks_offset(n) };
                }
                span += 1;
            }
        })
        .collect()
}

/// The smallest class holding `bytes`, if any. Arithmetic on the table's
/// shape (64-byte steps up to 256, then four classes per doubling) rather
/// than a search: every put and get asks.
#[inline]
pub(crate) fn class_for(bytes: u64) -> Option<usize> {
    if bytes <= 256 {
        return Some((bytes.max(1).div_ceil(64) - 1) as usize);
    }
    // bytes is in (2^p, 2^(p+1)], which holds four classes of step 2^(p-2).
    let p = 63 - (bytes - 1).leading_zeros() as u64;
    let step = 1u64 << (p - 2);
    let class = 4 * (p - 8) + 3 + (bytes - (1 << p)).div_ceil(step);
    ((class as usize) < NCLASSES).then_some(class as usize)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn class_table_is_sane() {
        for ps in [64 << 10, 256 << 10] {
            let classes = size_classes(ps);
            for c in &classes {
                assert!(c.blocks as u64 >= MIN_BLOCKS, "{c:?}");
                assert_eq!(c.blocks_off % 64, 0);
                assert_eq!(c.size % 64, 0);
                assert!(c.blocks_off + c.blocks as u64 * c.size <= c.span * ps, "{c:?}");
                assert!(c.blocks_off >= SLAB_HEADER_BYTES + 4 * c.blocks as u64);
            }
            assert_eq!(classes[0].span, 1);
        }
    }

    #[test]
    fn class_lookup_agrees_with_the_table() {
        let search = |b: u64| {
            let i = CLASS_SIZES.partition_point(|&s| s < b.max(1));
            (i < NCLASSES).then_some(i)
        };
        let mut probes: Vec<u64> = (0..=1024).collect();
        for &s in &CLASS_SIZES {
            probes.extend([s - 1, s, s + 1]);
        }
        probes.extend([262_145, 300_000, 1 << 20, u64::MAX / 2]);
        for b in probes {
            assert_eq!(class_for(b), search(b), "{b} bytes");
        }
    }

    #[test]
    fn class_lookup() {
        assert_eq!(class_for(0), Some(0));
        assert_eq!(class_for(64), Some(0));
        assert_eq!(class_for(65), Some(1));
        assert_eq!(CLASS_SIZES[class_for(1000).unwrap()], 1024);
        assert_eq!(class_for(262144), Some(NCLASSES - 1));
        assert_eq!(class_for(262145), None);
    }
}

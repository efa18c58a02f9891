//! Queue storage sized for connections that hold one item at a time.

use alloc::collections::VecDeque;

/// Makes room for one more item, allocating room for exactly one the first time.
///
/// `VecDeque` allocates room for four items on its first push. Most connections hold one
/// output, event or write segment at a time (an echo, a Pong), and a queue's storage stays
/// allocated until the connection goes idle, so with thousands of connections that first
/// allocation is most of what each holds beyond its fixed state. A busy connection grows the
/// queue once more, as it would anyway.
pub(crate) fn reserve_one<T>(queue: &mut VecDeque<T>) {
    if queue.capacity() == 0 {
        queue.reserve_exact(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn the_first_allocation_holds_one_item_and_growth_continues_from_there() {
        let mut queue = VecDeque::new();
        reserve_one(&mut queue);
        queue.push_back([0u64; 6]);
        assert_eq!(queue.capacity(), 1);
        reserve_one(&mut queue);
        queue.push_back([1u64; 6]);
        assert!(queue.capacity() >= 2);
        assert_eq!(queue.iter().map(|a| a[0]).collect::<Vec<_>>(), [0, 1]);
    }
}

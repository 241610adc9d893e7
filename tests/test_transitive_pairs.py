"""bench.transitive_pairs against a hand count."""

from bench.transitive_pairs import implied_pairs


def test_implied_pairs_by_hand():
    """a~b, b~c match: a~c implied; c vs d does not match: a-d and b-d implied negatives; a repeated labelled pair
    and a pair of another condition imply nothing more."""
    pairs = [("a", "b"), ("b", "c"), ("c", "d"), ("b", "a"), ("a", "c")]
    counts = implied_pairs(pairs, [1, 1, 0, 1, 1], conditions=[0, 0, 0, 0, 1])
    assert counts["implied_positives"] == 1 and counts["implied_negatives"] == 2
    assert counts["largest_group"] == 3 and counts["texts_in_several_pairs"] == 3  # a, b, c under condition 0
    assert implied_pairs(pairs[:3], [1, 1, 0])["implied_positives"] == 1
    assert implied_pairs([("a", "b"), ("c", "d")], [1, 1])["implied_positives"] == 0

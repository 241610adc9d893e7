"""The CRF baseline head (pytorch-crf) and the model's decoding of CRF tags to span rows."""

import torch

from common.layers.crf_head import CrfHead
from common.ner.spans import Span, tags_to_spans_lenient


def test_crf_head_decodes_dominant_path_and_loss_is_nll():
    torch.manual_seed(0)
    head = CrfHead(4, num_tags=3)
    path = [[1, 2, 0, 1], [0, 1, 2, 0]]
    emissions = torch.full((2, 4, 3), -10.0)
    for b, p in enumerate(path):
        for t, tag in enumerate(p):
            emissions[b, t, tag] = 10.0
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    assert head.decode(emissions, mask) == [path[0], path[1][:3]]
    gold = torch.tensor(path)
    nll_gold, nll_other = head.loss(emissions, gold, mask), head.loss(emissions, 2 - gold, mask)
    assert 0 <= nll_gold.item() < 1e-3 < nll_other.item()  # NLL >= 0, near 0 on the dominant path


def test_a_batch_of_one_character_pieces_reaches_every_crf_parameter():
    """Under DistributedDataParallel every parameter needs a gradient from every process. pytorch-crf reads its
    transitions only between two characters, so a process whose batch held 1-character pieces stopped a 2-process
    CRF run (probe P: "Expected to have finished reduction"); the loss is still pytorch-crf's NLL."""
    torch.manual_seed(0)
    head = CrfHead(4, num_tags=3)
    emissions, tags, mask = torch.randn(2, 1, 3), torch.tensor([[1], [0]]), torch.ones(2, 1, dtype=torch.long)
    loss = head.loss(emissions, tags, mask)
    assert torch.equal(loss, -head.crf(emissions, tags, mask=mask.bool(), reduction="mean"))
    loss.backward()
    assert all(p.grad is not None for p in head.crf.parameters())
    assert torch.equal(head.crf.transitions.grad, torch.zeros(3, 3))


def test_model_decodes_crf_tags_to_span_rows(tiny_tokenizer):
    from tests.conftest import tiny_bert
    from competitions.ner.model import NerModel

    torch.manual_seed(0)
    model = NerModel(tiny_bert(len(tiny_tokenizer)), "crf", ["LOC", "PER"])
    with torch.no_grad():  # emissions = bias only: B-PER I-PER O ... -> one PER span at [0, 1]
        model.head.emission.weight.zero_()
        model.head.emission.bias.copy_(torch.tensor([0.0, 0, 0, 5.0, 0]))
        model.head.crf.transitions.zero_()
        model.head.crf.start_transitions.zero_()
        model.head.crf.end_transitions.zero_()
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    out = model.decode(ids, torch.ones_like(ids))
    tags = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert tags_to_spans_lenient([tags[3]] * 3) == [Span(0, 0, "PER"), Span(1, 1, "PER"), Span(2, 2, "PER")]
    assert out == [[(0, 0, 1), (1, 1, 1), (2, 2, 1)]]  # one list of (start, end, type_id) per sentence

import json

import numpy as np
import torch
from torch import nn

from common.embedding_init import init_embeddings_from_word2vec, train_token_word2vec


def test_rows_of_known_tokens_take_the_word2vec_geometry():
    texts = [list("变压器检修断路器检修"), list("变压器巡视断路器巡视")] * 50
    w2v = train_token_word2vec(texts, vector_size=8, epochs=2, min_count=1)
    emb = nn.Embedding(20, 8)
    nn.init.normal_(emb.weight, std=0.02)
    untouched = emb.weight[19].detach().clone()
    vocab = {ch: i for i, ch in enumerate("变压器检修断路巡视")}
    rows = init_embeddings_from_word2vec(emb, vocab, w2v)
    assert rows == len(vocab)
    torch.testing.assert_close(emb.weight[19], untouched)  # unseen rows keep their init
    got = emb.weight[: len(vocab)].detach().numpy()
    want = np.stack([w2v.wv[ch] for ch in vocab])
    # an affine rescaling of the word2vec vectors: cosine similarities are preserved up to the shift
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.999
    assert abs(got.std() - 0.02) < 0.005


def test_sohu_pretrain_writes_a_loadable_model_folder(tmp_path, capsys):
    from transformers import AutoModel, AutoTokenizer

    from competitions.sohu import pretrain
    from competitions.sohu.data import SUBTASKS

    root = tmp_path / "sohu2021_open_data_clean" / SUBTASKS[0].folder
    root.mkdir(parents=True)
    rows = [{"source": "北京顺义调整为低风险地区", "target": "顺义地区低风险", "labelA": "1"}] * 5
    for split in ("train", "valid"):
        (root / f"{split}.txt").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    (root / "test_with_id.txt").write_text(json.dumps({"source": "北京", "target": "顺义", "id": "ss0_a"},
                                                      ensure_ascii=False), "utf-8")
    out = tmp_path / "cache"
    result = pretrain.main(["--data-dir", str(tmp_path), "--corpus-dir", str(tmp_path / "none"),
                            "--output-dir", str(out), "--vocab", str(tmp_path / "no-vocab"),
                            "--num-layers", "1", "--hidden-size", "16", "--num-heads", "2",
                            "--intermediate-size", "32", "--w2v-epochs", "1"])
    assert result["w2v_rows"] > 5 and json.loads(capsys.readouterr().out.strip().splitlines()[-1])["w2v_rows"]
    model = AutoModel.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.num_hidden_layers == 1 and len(tokenizer) == model.config.vocab_size
    assert tokenizer.unk_token_id not in tokenizer("北京顺义")["input_ids"]
    assert not (tmp_path / "cache.tmp").exists()

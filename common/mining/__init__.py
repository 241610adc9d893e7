"""Unsupervised term mining: new-word discovery, domain contrast, embedding expansion.

Modules, in pipeline order:

- ``text_files``: read UTF-8 corpora line by line with errors that name file and line.
- ``char_codes``: text -> int codepoint array with separators (the unit every counter works on).
- ``ngram_hash``: vectorised 64-bit n-gram hashes and counting of given strings in a text.
- ``new_words``: candidate n-grams scored by frequency, cohesion (PMI) and neighbour entropy.
- ``term_filters``: junk rules (function characters at the edges, digits, markup, form fragments).
- ``contrast``: smoothed domain / general frequency ratio (jieba dictionary, general text).
- ``segmentation``: segment a corpus with a discovered vocabulary (jieba + custom words).
- ``expansion``: word2vec training and seed expansion with a depth-dependent threshold.
- ``term_metrics``: precision@k, recall, F1 of a ranked term list against a gold set.
"""

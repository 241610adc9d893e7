"""Power-domain (电力) term mining: new-word discovery, domain contrast, word2vec expansion."""

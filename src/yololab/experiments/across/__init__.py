"""One comparison over several data sets: each data set is an ordinary comparison, then the entries are pooled across them."""

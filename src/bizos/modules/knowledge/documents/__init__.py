"""Documents: upload, parsing, chunking, the vector and lexical index, and search."""

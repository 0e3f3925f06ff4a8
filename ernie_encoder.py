"""Extract ERNIE embeddings of a TSV file; see ernie/encoder.py for flags and outputs."""
from ernie.encoder import main

if __name__ == "__main__":
    main()

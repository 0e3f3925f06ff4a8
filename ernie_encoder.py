"""Extract ERNIE embeddings of a TSV file; see ernie/cli/embed.py for flags and outputs."""
from ernie.cli.embed import main

if __name__ == "__main__":
    main()

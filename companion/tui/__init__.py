"""The Textual terminal UI. Importing it never imports llama_cpp or chromadb: the services load in a worker."""

"""The site: the MkDocs plugin, landing pages, search, the page cache, and the OAI-PMH service over a built site."""

"""The services: one module per aggregate, with the rules that change state, each change one
transaction. The access policy (`access`) answers who may do what. No Flask: the web layer, the
OAuth server and the CLI call these."""

"""The sizing report: the notebooks' sections by topic and the build that executes and exports them."""

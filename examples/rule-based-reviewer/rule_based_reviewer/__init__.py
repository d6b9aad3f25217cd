"""An example of an institution's own reviewer for microcred, on the review contract.

It approves all the hours of evidence from the providers the institution trusts and asks the
learner for changes otherwise; see the package's README.
"""

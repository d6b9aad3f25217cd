"""Conformance kits: check an institution's own services against microcred's contracts.

:mod:`microcred_shared.conformance.review` checks a reviewer (``microcred conformance review``);
:mod:`microcred_shared.conformance.contract` describes the review contract for AsyncAPI.
"""

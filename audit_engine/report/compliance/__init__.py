"""Compliance views: the model card (Mitchell et al. 2019) and the bias audit (NYC Local Law 144)."""

"""Teaching instruction following: the FollowIR-train pipeline (narratives, generate, filter, balance) and LoRA."""

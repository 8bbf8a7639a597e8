"""Plumbing every stage uses (common.smk): errors, atomic file output, the one download client and its URL policy, the rule-script runner, config validation and chromosome order."""

"""Stage matrix_input (matrix_input.smk): a pre-quantified gene x individual matrix as the expression entry point."""

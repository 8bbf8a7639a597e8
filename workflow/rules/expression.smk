def expression_outputs():
    return []

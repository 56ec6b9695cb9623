"""Dataset loaders (a typed registry) and the dataset -> windows pipeline."""

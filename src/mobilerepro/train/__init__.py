"""Classification training: recipes as data (`recipe`), the trainer with exact resume and DDP (`trainer`), and
evaluation (`evaluate`)."""

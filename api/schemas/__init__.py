"""Request and response models, split per resource into Create / Update / Public."""

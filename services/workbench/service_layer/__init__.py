"""What the workbench does on a request: gather a page's data from the case and agent APIs, carry out an action."""

"""Projects configuration: which projects, municipalities, periods and targets."""

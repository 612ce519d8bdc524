"""Use cases shared by the CLI and the HTTP routes: read layers → compute in geo → store in layers."""

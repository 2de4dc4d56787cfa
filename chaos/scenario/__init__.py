"""The scenario room: the file format (``format``: structs, loader, checks), its shared value
types (``types``), file-and-YAML-path error messages (``errors``) and the generated reference
(``reference``, ``saga scenario reference``)."""

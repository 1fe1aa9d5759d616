{
  # One addon, one init (src/cairn_native.c); each concern lives in its own .c file
  # and registers its exports from there (the chunker is src/chunker.c).
  "targets": [
    {
      "target_name": "cairn_native",
      "sources": [
        "src/cairn_native.c",
        "src/errors.c",
        "src/args.c",
        "src/xattr.c",
        "src/fsmeta.c",
        "src/chunker.c",
        "src/aead.c",
        "src/address.c",
        "src/scandir.c",
        "src/readfile.c",
        "src/exit-now.c"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "_FILE_OFFSET_BITS=64"],
      "libraries": ["-lm"],
      "cflags_c": ["-std=c11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-std=c11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
      }
    }
  ]
}

#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: MD5 checksum
doc: |
  Computes the MD5 digest of a file with `md5sum`. The file is read on
  standard input, so the output line is "<32 hex digits>  -".

baseCommand: md5sum

inputs:
  input_file:
    type: File
    doc: File to checksum.

stdin: $(inputs.input_file.path)
stdout: md5sum.txt

outputs:
  md5:
    type: stdout
    doc: The md5sum output line.

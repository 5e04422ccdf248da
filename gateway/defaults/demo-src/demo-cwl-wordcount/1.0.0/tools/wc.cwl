#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Count lines
doc: |
  Counts the lines of a text file with `wc -l`. The file is given on
  standard input, so the output is the bare number without a file name.

baseCommand: [wc, -l]

inputs:
  text:
    type: File
    doc: Text file whose lines are counted.

stdin: $(inputs.text.path)
stdout: word_count.txt

outputs:
  line_count:
    type: stdout
    doc: The number of lines followed by a newline.

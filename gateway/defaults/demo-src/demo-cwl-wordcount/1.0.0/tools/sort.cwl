#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Sort unique lines
doc: Sorts the lines of a text file and removes duplicates with `sort -u`.

baseCommand: [sort, -u]

inputs:
  text:
    type: File
    doc: Text file to sort.
    inputBinding:
      position: 1

stdout: unique_words.txt

outputs:
  sorted:
    type: stdout
    doc: The sorted, de-duplicated lines.

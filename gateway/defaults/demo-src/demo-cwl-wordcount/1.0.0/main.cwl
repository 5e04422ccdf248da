#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
label: Distinct word count
doc: |
  Counts the distinct words of a text file that holds one word per line.
  The first step sorts the words and drops duplicates (tools/sort.cwl),
  the second step counts the remaining lines (tools/wc.cwl).

inputs:
  text:
    type: File
    doc: Plain text file with one word per line.

outputs:
  unique_words:
    type: File
    doc: The distinct words, sorted, one per line.
    outputSource: unique/sorted
  word_count:
    type: File
    doc: Number of distinct words, as a bare number followed by a newline.
    outputSource: count/line_count

steps:
  unique:
    run: tools/sort.cwl
    in:
      text: text
    out: [sorted]
  count:
    run: tools/wc.cwl
    in:
      text: unique/sorted
    out: [line_count]

#!/usr/bin/env nextflow

/*
 * Greets a few names and counts the lines of a text file (Nextflow DSL2).
 */

params.names = 'TRS,GA4GH,Nextflow'
params.input = "${projectDir}/tests/input.txt"

process SAY_HELLO {
    input:
    val name

    output:
    stdout

    script:
    """
    echo 'Hello, ${name}!'
    """
}

process COUNT_LINES {
    input:
    path text

    output:
    stdout

    script:
    """
    wc -l < '${text}'
    """
}

workflow {
    names = Channel.of(params.names.tokenize(','))
    SAY_HELLO(names).view { it.trim() }

    text = Channel.fromPath(params.input, checkIfExists: true)
    COUNT_LINES(text).view { "lines: ${it.trim()}" }
}

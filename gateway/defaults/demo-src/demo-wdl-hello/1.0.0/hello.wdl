version 1.0

# Greets someone and counts the lines of a text file.

workflow hello {
  input {
    String name = "world"
    File text
  }

  call greet {
    input:
      name = name
  }

  call count_lines {
    input:
      text = text
  }

  output {
    String greeting = greet.greeting
    Int line_count = count_lines.line_count
  }

  meta {
    description: "Greets someone and counts the lines of a text file."
    author: "trs-gateway demo"
  }

  parameter_meta {
    name: "Who to greet."
    text: "Plain text file whose lines are counted."
  }
}

task greet {
  input {
    String name
  }

  command <<<
    echo "Hello, ~{name}!"
  >>>

  output {
    String greeting = read_string(stdout())
  }

  runtime {
    cpu: 1
    memory: "256 MiB"
  }
}

task count_lines {
  input {
    File text
  }

  command <<<
    wc -l < "~{text}"
  >>>

  output {
    Int line_count = read_int(stdout())
  }

  runtime {
    cpu: 1
    memory: "256 MiB"
  }
}

#!/usr/bin/python3
"""Renders real chat templates with jinja2 (Debian's python3-jinja2), as Hugging Face's apply_chat_template does
(a sandboxed environment with trim_blocks and lstrip_blocks), for the C# chat-template tests.

Usage: reference_chat_templates.py OUT.json

The templates are the chat_template strings of the tokenizer_config.json files of the models named below; each is
rendered for several chats, with and without the generation prompt.
"""
import json
import sys

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = {
    # The ChatML format (OpenAI's Chat Markup Language, as many Hugging Face chat models ship it).
    "chatml": ("chatml", "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
                         "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    # Qwen/Qwen2-*-Instruct.
    "qwen2-instruct": ("qwen2", "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                                "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
                                "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                                "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    # Qwen/Qwen1.5-*-Chat: the last turn stays open without a generation prompt.
    "qwen1.5-chat": ("qwen2", "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                              "{{ '<|im_start|>system\\nYou are a helpful assistant<|im_end|>\\n' }}{% endif %}"
                              "{{'<|im_start|>' + message['role'] + '\\n' + message['content']}}"
                              "{% if (loop.last and add_generation_prompt) or not loop.last %}{{ '<|im_end|>' + '\\n'}}{% endif %}{% endfor %}"
                              "{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    # HuggingFaceTB/SmolLM2-*-Instruct: ChatML with its own default system message.
    "smollm2-instruct": ("qwen2", "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                                  "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
                                  "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                                  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    # meta-llama/Meta-Llama-3-8B-Instruct.
    "llama3-instruct": ("llama3", "{% set loop_messages = messages %}{% for message in loop_messages %}"
                                  "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
                                  "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
                                  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"),
}

CHATS = [
    [{"role": "user", "content": "Hello"}],
    [{"role": "system", "content": "Answer with one word."}, {"role": "user", "content": "Review: a moving film\nSentiment:"}],
    [{"role": "user", "content": "  padded on both sides \n\t"}],
    [{"role": "user", "content": "What is 12 + 30?"}, {"role": "assistant", "content": "42"},
     {"role": "user", "content": "And 東京 😀 + café?\n\nThink step by step."}],
    [{"role": "user", "content": "Q: 2+2?"}, {"role": "assistant", "content": " 4 "}],
    [{"role": "user", "content": "quote ' and \\ backslash {{ not a tag }}"}],
]


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message):
        raise TemplateError(message)

    env.globals["raise_exception"] = raise_exception
    out = []
    for name, (family, source) in TEMPLATES.items():
        template = env.from_string(source)
        cases = []
        for chat in CHATS:
            for generation in (True, False):
                rendered = template.render(messages=chat, add_generation_prompt=generation, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
                cases.append({"messages": chat, "add_generation_prompt": generation, "rendered": rendered})
        out.append({"name": name, "family": family, "template": source, "cases": cases})
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print(len(out))


if __name__ == "__main__":
    main()

# Reads XML documents, one JSON string a line, from stdin and writes for each
# the tree expat (pyexpat) reads, as JSON: [name, {attributes}, text, [children]],
# or {"error": reason, "line": n}. The reference for fuzz/xml-expat.ts.
import json
import sys
import pyexpat


def tree(doc):
    parser = pyexpat.ParserCreate()
    stack = [['#document', {}, '', []]]

    def start(name, attrs):
        el = [name, attrs, '', []]
        stack[-1][3].append(el)
        stack.append(el)

    def end(name):
        stack.pop()

    def text(data):
        stack[-1][2] += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        data = doc.encode('utf-8')
    except UnicodeEncodeError:
        return {'error': 'a lone surrogate is not UTF-8', 'line': 0}
    try:
        parser.Parse(data, True)
    except LookupError as e:
        return {'error': str(e), 'line': 1}
    except pyexpat.ExpatError as e:
        return {'error': pyexpat.ErrorString(e.code), 'line': e.lineno}
    return stack[0][3][0]


for line in sys.stdin:
    sys.stdout.write(json.dumps(tree(json.loads(line))) + '\n')
    sys.stdout.flush()

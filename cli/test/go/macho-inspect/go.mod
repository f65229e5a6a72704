module macho-inspect

go 1.19
